//! Removing a parameter from a query string without touching the others.

use http::Uri;
use http::uri::PathAndQuery;

/// Returns `uri` without every query parameter whose decoded name is `name`; the other
/// parameters keep their exact original encoding and order.
pub(crate) fn strip_query_param(uri: &Uri, name: &str) -> Uri {
    let Some(query) = uri.query() else {
        return uri.clone();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let raw_key = pair.split('=').next().unwrap_or("");
            let decoded = form_urlencoded::parse(raw_key.as_bytes())
                .next()
                .map(|(k, _)| k);
            decoded.as_deref() != Some(name)
        })
        .collect();
    let mut pq = uri.path().to_owned();
    if !kept.is_empty() {
        pq.push('?');
        pq.push_str(&kept.join("&"));
    }
    let mut parts = uri.clone().into_parts();
    match PathAndQuery::try_from(pq) {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return uri.clone(),
    }
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_the_named_parameter() {
        let uri: Uri = "/a/b?x=1&access_token=s3cret&y=%20z&access%5Ftoken=again"
            .parse()
            .unwrap();
        assert_eq!(
            strip_query_param(&uri, "access_token").to_string(),
            "/a/b?x=1&y=%20z"
        );
        let uri: Uri = "http://h/p?access_token=s3cret".parse().unwrap();
        assert_eq!(
            strip_query_param(&uri, "access_token").to_string(),
            "http://h/p"
        );
    }
}
