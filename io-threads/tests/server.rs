//! The thread-per-connection server in-process: the shared driver suite
//! (`reprise_driver_suite`).

reprise_driver_suite::driver_suite!(reprise_threads::Threads);
