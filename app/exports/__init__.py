"""Exports of one client's record: a FHIR R4 bundle for other systems (``fhir``), and the
subject-access archive of everything held about them (``sar``)."""
