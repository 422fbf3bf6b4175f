//! The mio server in-process: the shared driver suite (`reprise_driver_suite`).

reprise_driver_suite::driver_suite!(reprise_mio::Mio);
reprise_driver_suite::event_loop_suite!(reprise_mio::Mio);
