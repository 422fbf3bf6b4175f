//! The io_uring server in-process, with direct descriptors (the default): the shared driver
//! suite (`reprise_serve::suite`).

reprise_serve::driver_suite!(reprise_uring::Uring);
