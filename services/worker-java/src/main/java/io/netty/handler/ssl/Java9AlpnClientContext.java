package io.netty.handler.ssl;

import javax.net.ssl.SSLContext;

/**
 * A Netty client SslContext on the JDK's own TLS that negotiates HTTP/2 with ALPN, for gRPC
 * over TLS. Debian's Netty (4.1.48) is built without its JdkAlpnApplicationProtocolNegotiator,
 * so {@code GrpcSslContexts} fails with "JDK provider does not support ALPN protocol"; it
 * still has the Java 9 ALPN engine, which this class (in Netty's package, to reach it) wires
 * up the way that negotiator does. Nothing else of Netty changes.
 */
public final class Java9AlpnClientContext {
    private Java9AlpnClientContext() {
    }

    /**
     * A client context trusting what jdkContext trusts, offering "h2" only. (Netty deprecates
     * its JDK negotiator interfaces in favour of the one this Netty lacks.)
     */
    @SuppressWarnings("deprecation")
    public static SslContext forHttp2(SSLContext jdkContext) {
        JdkApplicationProtocolNegotiator negotiator = new JdkBaseApplicationProtocolNegotiator(
                (engine, applicationNegotiator, isServer) -> new Java9SslEngine(engine, applicationNegotiator, isServer),
                JdkBaseApplicationProtocolNegotiator.NO_FAIL_SELECTOR_FACTORY,
                JdkBaseApplicationProtocolNegotiator.NO_FAIL_SELECTION_LISTENER_FACTORY,
                "h2");
        return new JdkSslContext(jdkContext, true, null, IdentityCipherSuiteFilter.INSTANCE, negotiator,
                ClientAuth.NONE, null, false);
    }
}
