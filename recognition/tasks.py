"""Background tasks (django.tasks; run by `manage.py db_worker`). Each is a thin call to a service."""

from django.tasks import task


@task()
def process_upload(recognition_id: str) -> str:
    """Recognise every catalog song in an uploaded recording."""
    from recognition.services.uploads import upload_process

    return upload_process(recognition_id)


@task()
def deliver_webhook(delivery_id: int) -> str:
    """Make one signed delivery attempt of a webhook notice."""
    from recognition.services.webhooks import webhook_deliver

    return webhook_deliver(delivery_id)
