"""Leave-one-compound-out evaluation, majority voting, statistics and baselines."""
