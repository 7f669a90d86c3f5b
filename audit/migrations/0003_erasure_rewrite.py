"""The append-only trigger lets one rewrite through: an erasure's, in its own
transaction, which sets purelaka.audit_erasure (audit.services.audit_erase_person).
DELETE stays refused; any other UPDATE too."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_auditlog_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND coalesce(current_setting('purelaka.audit_erasure', true), '') = 'on' THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_auditlog is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""
ORIGINAL = """
CREATE OR REPLACE FUNCTION audit_auditlog_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_auditlog is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ORIGINAL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [migrations.RunPython(forwards, backwards)]
