"""The admin role reads the audit trail in the Django admin, and only reads it.

The trail is shown there as pghistory's events list (admin › Pghistory › Middleware events,
`PGHISTORY_ADMIN_MODEL` in config/settings.py). A staff user who is not a superuser sees an admin
model only with its permission, and the `admin` group held none: an administrator without
superuser rights found no audit trail. The group gets `view_middlewareevents`, nothing more: the
events admin refuses add, change and delete to everyone (pghistory's BaseEventAdmin), and the
event tables refuse UPDATE and DELETE from any client (append-only triggers).

Django creates model permissions after `migrate` (post_migrate), after this migration on a new
database, so the content type and the permission are made here as Django names them (a proxy
model's own content type); its post_migrate pass then finds them.
"""

from django.db import migrations

ROLE = "admin"
# (app label, model, codename, name as Django's create_permissions writes it)
GRANTS = [
    ("pghistory", "middlewareevents", "view_middlewareevents", "Can view middleware events"),
]


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=ROLE)
    for app_label, model, codename, name in GRANTS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=ROLE).first()
    if group is None:
        return
    for app_label, model, codename, _name in GRANTS:
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label=app_label, content_type__model=model, codename=codename
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0018_ndc_retirement_history"),
        ("mar", "0002_roles"),
        ("pghistory", "0007_auto_20250421_0444"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
