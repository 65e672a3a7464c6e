# Written for ChargeOutbox alone (coding/models.py had other uncommitted models at the time).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('coding', '0002_chargerun_exported_at'),
        ('mar', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='ChargeOutbox',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('sign', 'Record signed'), ('addendum', 'Addendum'), ('class_change', 'Drug class changed'), ('manual', 'Manual')], default='sign', max_length=20)),
                ('reason', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('done_at', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('encounter', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='charge_outbox', to='mar.encounter')),
            ],
            options={
                'ordering': ['pk'],
                'indexes': [models.Index(condition=models.Q(('done_at__isnull', True)), fields=['created_at'], name='coding_outbox_pending')],
            },
        ),
    ]
