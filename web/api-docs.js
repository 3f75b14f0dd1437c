// Starts Swagger UI on /api/docs (app/meta/docs.py): a file of its own, since the
// Content-Security-Policy allows no inline script. Swagger UI's bundle, loaded just before this
// file, puts itself on window.
const swaggerUi = /** @type {any} */ (window).SwaggerUIBundle;
const root = document.getElementById('swagger-ui');
swaggerUi({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
  presets: [swaggerUi.presets.apis],
  layout: 'BaseLayout',
});
