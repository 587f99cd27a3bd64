"""What the Playwright tests share: signing in through the login page."""

from .conftest import UPLOADER, UPLOADER_PASSWORD


def login(page, base, then="/", user=UPLOADER, password=UPLOADER_PASSWORD):
    """Sign in as ``user`` on the site at ``base`` and wait to land on ``then``."""
    page.goto(f"{base}/login/?next={then}")
    page.fill("#id_username", user)
    page.fill("#id_password", password)
    page.click("#login-button")
    page.wait_for_url(f"{base}{then}")
