"""Real-format loaders of segmentation data sets (BraTS, ISLES), tested on small files."""
