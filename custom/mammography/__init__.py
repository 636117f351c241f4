"""The mammography modality, on top of the core: reading and pairing screening exams (``data``), the Siamese
co-training engine (``engines``), lesion detection (``detection``), the benchmark's calibration
(``calibration``), the comparison of encoders (``compare``) and the throughput benches (``bench``)."""
