"""The candidates as a DICOM Structured Report: TID 1500 (Measurement Report), written with highdicom.

One measurement group (TID 1410, planar ROI) per candidate: its box as a closed 2-D POLYLINE on its source
image (pixel coordinates, DICOM's origin at the top-left corner of the top-left pixel, as
``custom.mammography.data.geometry`` counts), the finding type "Asymmetric breast tissue" with the breast as
finding site, and two numeric measurements: the suspicion score (the detector's probability, in percent) and the
candidate's rank in its image (1 = highest score). The algorithm (bundle name and version) is named in every
group and as the observing device. OHIF draws the boxes and their scores on mammograms without geometry tags
(``docs/pacs.md``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import contextmanager

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from custom.pacs.runs import BundleIdentity, description, series_number
from custom.pacs.study import StudyImage

MANUFACTURER = "mammo-ssl"
PRIVATE_SCHEME = "99MAMMOSSL"  # DICOM's form for a coding scheme of our own (PS3.16, 8.2)
SUSPICION_SCORE = hd.sr.CodedConcept("SUSPICION", PRIVATE_SCHEME, "Suspicion score")
RANK_IN_IMAGE = hd.sr.CodedConcept("RANK", PRIVATE_SCHEME, "Rank in image")
PERCENT = hd.sr.CodedConcept("%", "UCUM", "percent")
RANK_UNIT = hd.sr.CodedConcept("{rank}", "UCUM", "rank")
SCREENING_PROCEDURE = hd.sr.CodedConcept("24606-6", "LN", "MG Breast Screening")
SIDES = {"L": codes.SCT.Left, "R": codes.SCT.Right}
PATIENT_AND_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyID", "StudyDate",
                     "StudyTime", "AccessionNumber", "ReferringPhysicianName")


def candidate_report(images: Sequence[StudyImage], candidates: dict[str, list[dict]], bundle: BundleIdentity,
                     run: int, series_uid: str | None = None) -> hd.sr.ComprehensiveSR:
    """The SR of one run: ``candidates`` maps each image's SOPInstanceUID to its candidates, as
    ``detection.json`` writes them (``rank``, ``score``, ``box`` = ``[xmin, ymin, xmax, ymax]`` in the image's
    pixels). Every image is evidence, also one without a candidate: the report covers the whole exam."""
    algorithm = hd.sr.AlgorithmIdentification(name=bundle.name, version=bundle.version)
    groups = []
    for image in images:
        for candidate in candidates.get(image.sop_uid, []):
            groups.append(_candidate_group(image, candidate, algorithm))
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=[bundle.name, bundle.version]), name=bundle.name,
        manufacturer_name=MANUFACTURER, model_name=bundle.version)
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=SCREENING_PROCEDURE,
                                     imaging_measurements=groups or None)
    kind = "candidates"
    with source_names_accepted():
        return hd.sr.ComprehensiveSR(
            evidence=[evidence(image.header, images[0].header) for image in images], content=report[0],
            series_instance_uid=series_uid or generate_uid(), series_number=series_number(run, kind),
            sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
            series_description=description(bundle, run, kind), is_complete=True, is_final=False, is_verified=False,
            record_evidence=True)


@contextmanager
def source_names_accepted():
    """highdicom warns about a one-word PatientName ("ANONYMIZED"), a value of the source copied as it is."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The string .* is unlikely to represent the intended person name")
        yield


def evidence(header: Dataset, patient: Dataset | None = None) -> Dataset:
    """A copy of a source header with the patient and study attributes highdicom copies from it present (DICOM
    lets them be empty, type 2, and anonymised archives often leave them out), taken from ``patient`` when given."""
    copy = Dataset(header)
    for keyword in PATIENT_AND_STUDY:
        value = (patient if patient is not None else header).get(keyword, "")
        setattr(copy, keyword, value if value is not None else "")
    return copy


def _candidate_group(image: StudyImage, candidate: dict,
                     algorithm) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    xmin, ymin, xmax, ymax = (float(value) for value in candidate["box"])
    outline = np.array([[xmin, ymin], [xmax, ymin], [xmax, ymax], [xmin, ymax], [xmin, ymin]], dtype=np.float32)
    source = hd.sr.SourceImageForRegion(referenced_sop_class_uid=str(image.header.SOPClassUID),
                                        referenced_sop_instance_uid=image.sop_uid)
    region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=outline, source_image=source)
    rank = int(candidate["rank"])
    tracking = hd.sr.TrackingIdentifier(uid=generate_uid(),
                                        identifier=f"Candidate {rank} {image.laterality} {image.view}")
    site = hd.sr.FindingSite(anatomic_location=codes.SCT.Breast, laterality=SIDES[image.laterality])
    measurements = [
        # in percent: OHIF prints a value and its unit's code ("Suspicion score: 91.00 %"); "no units" would print "1"
        hd.sr.Measurement(name=SUSPICION_SCORE, value=round(100 * float(candidate["score"]), 2), unit=PERCENT,
                          algorithm_id=algorithm),
        hd.sr.Measurement(name=RANK_IN_IMAGE, value=rank, unit=RANK_UNIT, algorithm_id=algorithm),
    ]
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking, referenced_region=region, finding_type=codes.SCT.AsymmetricBreastTissue,
        finding_sites=[site], algorithm_id=algorithm, measurements=measurements)
