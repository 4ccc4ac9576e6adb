"""Search: a spec's spaces as Ray Tune's, searchers, schedulers, repeats, previews."""
