//! A person's browser reduced to cookies and forms, for the dashboard's HTTP-level tests:
//! what a browser hides (cookie attributes, statuses, headers) read directly. Follows no
//! redirects, so each answer can be checked as it is.

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::Method;

use crate::helpers::app::{TestApp, MANAGEMENT_ID, MANAGEMENT_TOKEN};

/// A dashboard answer.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The `Set-Cookie` line of `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The first CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .map(|i| i + "name=\"csrf\" value=\"".len())
            .expect("a form with a CSRF token");
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

/// A person's browser, reduced to cookies and forms; follows no redirects.
pub struct Person {
    client: reqwest::Client,
    base: String,
    pub cookies: Vec<(String, String)>,
}

impl Person {
    pub fn new(app: &TestApp) -> Self {
        Self::at(app, None)
    }

    /// A person whose requests come from `address` (a loopback address of its own), so the
    /// server tells them apart from other people.
    pub fn at(app: &TestApp, address: Option<std::net::IpAddr>) -> Self {
        Self {
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(Policy::none())
                .local_address(address)
                .build()
                .unwrap(),
            base: app.base_url.clone(),
            cookies: Vec::new(),
        }
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            request = request.header(COOKIE, jar.join("; "));
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        if let Some(form) = form {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter())
                .finish();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let page = Page {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        for line in page
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let pair = line.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.retain(|(n, _)| n != name);
                if !value.is_empty() && !line.contains("Max-Age=0") {
                    self.cookies.push((name.to_owned(), value.to_owned()));
                }
            }
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.request(Method::POST, path, Some(form), &[]).await
    }

    /// Fills in the sign-in form with `fields` (the form's token added).
    pub async fn sign_in_with(&mut self, fields: &[(&str, &str)]) -> Page {
        let form = self.get("/dashboard/login").await;
        let csrf = form.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post("/dashboard/login", &all).await
    }

    pub async fn sign_in(&mut self) -> Page {
        let page = self
            .sign_in_with(&[
                ("management_id", MANAGEMENT_ID),
                ("management_token", MANAGEMENT_TOKEN),
            ])
            .await;
        assert_eq!(page.status, 303, "signed in: {}", page.body);
        page
    }
}

/// The default project's settings page.
pub fn settings_path(app: &TestApp) -> String {
    format!("/dashboard/projects/{}/settings", app.project.id)
}
