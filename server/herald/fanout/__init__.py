"""The fan-out bus: ``base`` states the contract, ``memory`` and ``redis`` implement it."""
