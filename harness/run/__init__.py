"""Running a sweep: the matrix, the runner, one combination, executors, trackers, resume."""
