# Where scanmail keeps what it makes for the user: caches (compiled .mpy files, ...) go to the
# user's cache directory (platformdirs: ~/.cache/scanmail on Linux, ~/Library/Caches/scanmail on
# macOS, %LOCALAPPDATA%\scanmail\Cache on Windows), never into site-packages or the working
# directory. SCANMAIL_CACHE_DIR overrides it (CI, a read-only home).
import os


def cache_dir(*parts):
    root = os.environ.get("SCANMAIL_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("scanmail", appauthor=False)
    return os.path.join(root, *parts)
