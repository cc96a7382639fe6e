"""Analytics (DESIGN §8): the collector, its cadence and budgets, and reads for the CLI."""
