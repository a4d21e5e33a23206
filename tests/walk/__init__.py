"""The student's path: per-lab states against the handouts, each state graded on its task, the labs walked in a terminal."""
