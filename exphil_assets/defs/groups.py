"""The asset group: the five assets form one chain, so one group shows it whole in the UI."""

ASSET_GROUP = "melee_pipeline"
