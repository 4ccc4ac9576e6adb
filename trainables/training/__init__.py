"""The loop a trial runs, and the pure pieces it is made of."""
