"""Transcript review for staff: who may read, flags, exports, usage and the audit."""
