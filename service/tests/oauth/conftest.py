from tests.admin.support import cli  # noqa: F401 - a fixture for this folder
