"""The hospital side: a screening study read from a PACS over DICOMweb, the bundle's detection run on it, and
the results stored back as DICOM a radiologist's viewer shows (``python -m custom pacs-detect``; ``docs/pacs.md``).

On top of the mammography layer, never shipped inside a bundle (``custom.layers``):

- ``connection``: one DICOMweb server, credentials from the environment, failures said plainly;
- ``study``: the study's four views found and checked from the headers, then retrieved;
- ``detect``: ``PacsDetector``, a bundle's detector connected to a PACS (check, retrieve, detect, store);
- ``report`` (the TID 1500 SR), ``overlay`` (the heatmaps as colour secondary captures), ``runs`` (series names
  and the rule for a second run);
- ``watch``: every new study, by polling QIDO-RS;
- ``orthanc``, ``front``, ``ohif``, ``upload``, ``untrained``, ``demo``: the one-command demo and the tests'
  real PACS and viewer; ``bench``: ``bench pacs``.
"""
