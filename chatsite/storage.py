"""Static files in production: WhiteNoise's hashed, compressed files, ES modules too."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    # The chat page's script is ES modules (static/chat/js/): their
    # `import … from "./x.js"` must name the hashed files as well, or a browser would
    # load the plain names, which are neither cached for long nor of one deploy.
    support_js_module_import_aggregation = True
