"""What the daemon serves over HTTP besides ``/metrics``: the read-only status page.

- :mod:`monitor.web.page_data`: the records a page shows and the :class:`StatusSource`
  port the service implements (so this room never imports the service).
- :mod:`monitor.web.status_page`: the WSGI application (routes, headers, escaping through
  jinja2 autoescape, the templates in ``templates/``) and its server thread.
"""
