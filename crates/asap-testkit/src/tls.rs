//! A throw-away certificate authority for HTTPS tests.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A throw-away CA and a server certificate for `127.0.0.1` and `localhost`, generated with
/// rcgen on aws-lc-rs. Each value is a fresh CA, so a client trusts exactly one test server.
#[derive(Debug)]
pub struct TestCa {
    root_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// Generates a CA (P-256) and a server certificate signed by it.
    pub fn new() -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "asap-testkit throw-away CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().expect("generate CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("valid SANs");
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server_params.use_authority_key_identifier_extension = true;
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().expect("generate server key");
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .expect("sign server certificate");

        TestCa {
            root_pem: ca_cert.pem(),
            // The chain a server presents: its own certificate, then the CA's.
            server_cert_pem: format!("{}{}", server_cert.pem(), ca_cert.pem()),
            server_key_pem: server_key.serialize_pem(),
        }
    }

    /// The CA certificate, PEM, for clients to trust.
    pub fn root_pem(&self) -> String {
        self.root_pem.clone()
    }

    /// The server certificate chain, PEM (leaf first, then the CA).
    pub fn server_cert_pem(&self) -> String {
        self.server_cert_pem.clone()
    }

    /// The server private key, PEM (PKCS#8).
    pub fn server_key_pem(&self) -> String {
        self.server_key_pem.clone()
    }

    /// A rustls server configuration on the aws-lc-rs provider presenting the server
    /// certificate, offering HTTP/2 and HTTP/1.1 by ALPN.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let chain = CertificateDer::pem_slice_iter(self.server_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("parse server certificate chain");
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).expect("parse server key");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate and key match");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pems_have_the_expected_shape() {
        let ca = TestCa::new();
        assert!(ca.root_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(ca.server_cert_pem().matches("BEGIN CERTIFICATE").count(), 2);
        assert!(ca.server_key_pem().contains("BEGIN PRIVATE KEY"));
        let _ = ca.server_config();
    }

    #[test]
    fn every_ca_is_fresh() {
        assert_ne!(TestCa::new().root_pem(), TestCa::new().root_pem());
    }
}
