@echo off
rem Stop every process start_all.bat started (by the PIDs in run\): senders and the
rem dashboard first, the daemon last.
setlocal EnableDelayedExpansion
cd /d "%~dp0"
for %%n in (generator dashboard daemon) do (
  if exist run\%%n.pid (
    set /p PID=<run\%%n.pid
    taskkill /PID !PID! /T /F >nul 2>&1 && echo stopped %%n ^(pid !PID!^)
    del run\%%n.pid
  )
)
exit /b 0
