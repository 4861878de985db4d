//! Middleware built with its dependencies. A [`Layer`] is a struct holding what it needs
//! (the authenticator, the limiter, the audit sink, ...), constructed once when the app is
//! built; [`wrap`] turns it into actix middleware. Nothing is looked up while a request is
//! served, so a wiring mistake is a compile error, not a panic on the first request.
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::middleware::{from_fn, Next};
use actix_web::Error;
use std::future::Future;
use std::rc::Rc;

/// One phase of the request pipeline: it sees the request, may answer it, or passes it on
/// to `next` and sees the response.
pub trait Layer: 'static {
    fn call<B: MessageBody + 'static>(
        &self,
        req: ServiceRequest,
        next: Next<B>,
    ) -> impl Future<Output = Result<ServiceResponse<BoxBody>, Error>>;
}

/// Implements [`Layer`] for `$ty` with the middleware function `$f(&$ty, req, next)`: each
/// layer is a struct of its dependencies and one `async fn` over it.
macro_rules! layer {
    ($ty:ty, $f:path) => {
        impl $crate::http::layer::Layer for $ty {
            fn call<B: actix_web::body::MessageBody + 'static>(
                &self,
                req: actix_web::dev::ServiceRequest,
                next: actix_web::middleware::Next<B>,
            ) -> impl std::future::Future<
                Output = Result<
                    actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
                    actix_web::Error,
                >,
            > {
                $f(self, req, next)
            }
        }
    };
}
pub(crate) use layer;

/// The layer as actix middleware (for `App::wrap`). Each worker's app gets its own copy.
pub fn wrap<L, S, B>(
    layer: L,
) -> impl Transform<S, ServiceRequest, Response = ServiceResponse<BoxBody>, Error = Error, InitError = ()>
where
    L: Layer,
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    let layer = Rc::new(layer);
    from_fn(move |req: ServiceRequest, next: Next<B>| {
        let layer = Rc::clone(&layer);
        async move { layer.call(req, next).await }
    })
}
