"""The database core: the model base (`base`), the shared column types (`types`) and the batched
writes and reads the hot paths use (`bulk`). Imports no domain."""
