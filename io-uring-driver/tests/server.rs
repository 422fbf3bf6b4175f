//! The io_uring server in-process, with direct descriptors (the default): the shared driver
//! suite (`reprise_driver_suite`).

reprise_driver_suite::driver_suite!(reprise_uring::Uring);
reprise_driver_suite::event_loop_suite!(reprise_uring::Uring);
