"""The decision-tree model container: SageMaker training (`train`) and serving (`serve`)."""
