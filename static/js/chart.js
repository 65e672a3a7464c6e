// The bedside chart: elapsed-minutes ticker and jump-to-field (no inline scripts).
