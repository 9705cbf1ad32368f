"""Floor 3: experiments, benchmarks, plots and reports. Nothing imports this package."""
