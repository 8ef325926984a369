DROP TABLE login_devices;
