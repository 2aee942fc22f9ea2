package edu.upb.aisystem.worker.providers;

import edu.upb.aisystem.worker.config.Settings;

/**
 * The worker's own provider and the one a key typed in the chat goes to: the same, or
 * USER_KEY_PROVIDER with its default model when the worker runs offline.
 */
public final class Providers {
    private final Provider fallback;
    private final KeyedProvider forUserKeys;

    public Providers(Settings settings) {
        boolean offline = settings.provider().equals("offline");
        String name = settings.keyProvider();
        String model = offline ? Settings.DEFAULT_MODELS.get(name) : settings.model();
        String baseUrl = settings.baseUrl().isEmpty() ? Settings.DEFAULT_BASE_URLS.get(name) : settings.baseUrl();
        KeyPool pool = new KeyPool(settings.apiKeys(), settings.keyCooldown());
        forUserKeys = new KeyedProvider(name, model, baseUrl, settings.llmTimeout(), pool);
        fallback = offline
                ? new OfflineProvider(settings.model(), settings.userKeyProvider(), settings.offlineWordTime())
                : forUserKeys;
    }

    public Provider choose(String userKey) {
        return userKey != null && !userKey.isEmpty() ? forUserKeys : fallback;
    }

    /** The provider keys go to, and its pool (the metrics show them). */
    public KeyedProvider forUserKeys() {
        return forUserKeys;
    }
}
