"""Analytics on the daily indicators: lagged correlation, forecasts, restriction impact, early warning."""
