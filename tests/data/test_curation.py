"""Feature curation by name: positions and bookkeeping are not morphology."""

from __future__ import annotations

from hca_dtl.data.curation import CurationConfig, candidate_features


def test_positions_and_bookkeeping_are_not_features_but_sizes_are() -> None:
    columns = ["Cells_AreaShape_Area", "Cells_AreaShape_BoundingBoxArea",
               "Cells_AreaShape_BoundingBoxMinimum_X", "Cells_AreaShape_BoundingBoxMaximum_Y",
               "Cells_AreaShape_Center_X", "Nuclei_Location_Center_Y", "Cells_Parent_Nuclei",
               "Cytoplasm_Number_Object_Number", "Nuclei_AreaShape_EulerNumber", "Image_Count_Cells"]
    assert candidate_features(columns, CurationConfig()) == ["Cells_AreaShape_Area",
                                                             "Cells_AreaShape_BoundingBoxArea"]
    keep = CurationConfig(keep=("Cells_AreaShape_BoundingBoxMinimum_X",))
    assert "Cells_AreaShape_BoundingBoxMinimum_X" in candidate_features(columns, keep)
