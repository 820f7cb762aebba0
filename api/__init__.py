"""The GraphQL service, the explorer page and the command line."""
