"""Reading mammograms, data-set manifests, synthetic exams and contralateral pair datasets."""
