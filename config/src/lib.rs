//! The ConfigMap schema, its validation, and the annotation and label keys Herald reads.
//! Pure: no I/O, no Kubernetes client.
