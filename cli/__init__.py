"""The `keras-lt` command line (installed as `keras_lt.cli`)."""
