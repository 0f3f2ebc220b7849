"""The chat domain: rules and services over the store, used by REST and the broker."""
