//! The thread-per-connection server in-process: the shared driver suite
//! (`reprise_serve::suite`).

reprise_serve::driver_suite!(reprise_threads::Threads);
