"""Unsupervised lesion detection on whole exams from dense contralateral asymmetry."""

from .asymmetry import asymmetry_distances, neighbourhood_distance
from .bundle import DetectionRunner, calibrate_after_training, calibrated_detector, load_weights, trained_encoder
from .candidates import Candidate, extract_candidates
from .dense import DenseEmbedder, EncoderDenseEmbedder, RawPixelDenseEmbedder
from .detector import AsymmetryDetector, CandidateFinder, ExamDetection
from .exams import AlignedExam, ImageInput, SingleBreastView, exams_from_images
from .image_pipeline import AsymmetryInferer, AsymmetryOutputd, ImageInferenceRunner, LoadContralateralExamd
from .outputs import StudyWriter, box_to_original, heatmap_to_original, points_to_original

__all__ = [
    "AlignedExam",
    "AsymmetryDetector",
    "AsymmetryInferer",
    "AsymmetryOutputd",
    "CandidateFinder",
    "Candidate",
    "DenseEmbedder",
    "DetectionRunner",
    "EncoderDenseEmbedder",
    "ExamDetection",
    "ImageInferenceRunner",
    "LoadContralateralExamd",
    "RawPixelDenseEmbedder",
    "SingleBreastView",
    "StudyWriter",
    "ImageInput",
    "asymmetry_distances",
    "box_to_original",
    "calibrate_after_training",
    "calibrated_detector",
    "exams_from_images",
    "extract_candidates",
    "heatmap_to_original",
    "load_weights",
    "neighbourhood_distance",
    "points_to_original",
    "trained_encoder",
]
