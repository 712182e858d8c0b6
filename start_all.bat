@echo off
rem Start the tftmon demo stack on Windows: .venv (idempotent), an API key if .env has none,
rem the daemon (waits for /health), the simulated fleet with a backfill, the dashboard.
rem Logs in logs\, PIDs in run\. Re-running is safe; stop_all.bat stops everything.
rem Ports: TFTMON_PORT (daemon, 8000), TFTMON_DASHBOARD_PORT (8501); the daemon's alerts link
rem to this dashboard (TFTMON_DASHBOARD_URL, unless set). stop_all.bat needs no variables.
setlocal EnableDelayedExpansion
cd /d "%~dp0"

if not defined TFTMON_PORT set TFTMON_PORT=8000
if not defined TFTMON_DASHBOARD_PORT set TFTMON_DASHBOARD_PORT=8501
if not defined TFTMON_DEMO_SERVERS set TFTMON_DEMO_SERVERS=20
if not defined TFTMON_DEMO_BACKFILL_HOURS set TFTMON_DEMO_BACKFILL_HOURS=6
set PY=.venv\Scripts\python.exe
set URL=http://127.0.0.1:%TFTMON_PORT%
if not defined TFTMON_DASHBOARD_URL set TFTMON_DASHBOARD_URL=http://127.0.0.1:%TFTMON_DASHBOARD_PORT%

rem --- .venv: torch (pinned, CPU) first, then tftmon; redone only when pyproject.toml changes
if not exist %PY% (
  echo creating .venv
  py -3 -m venv .venv || (echo Python 3.11+ is needed: https://www.python.org/downloads/ & exit /b 1)
)
%PY% -c "import torch" 2>nul || (
  echo installing torch 2.13.0
  %PY% -m pip install --quiet "torch==2.13.0" || exit /b 1
)
for /f %%h in ('certutil -hashfile pyproject.toml SHA256 ^| findstr /v ":"') do set WANT=%%h
set HAVE=
if exist .venv\.tftmon-installed-win set /p HAVE=<.venv\.tftmon-installed-win
if not "!HAVE!"=="!WANT!" (
  echo installing tftmon
  %PY% -m pip install --quiet -e ".[all,dev]" || exit /b 1
  > .venv\.tftmon-installed-win echo !WANT!
)

if not exist logs mkdir logs
if not exist run mkdir run
findstr /r /c:"^TFTMON_API_KEYS=..*" .env >nul 2>&1 || %PY% generate_api_key.py
for /f "delims=" %%k in ('%PY% generate_api_key.py --show') do set TFTMON_API_KEY=%%k

call :start daemon "tft_inference_daemon.py --port %TFTMON_PORT%"
call :wait daemon %URL%/health 120 || exit /b 1
set TFTMON_DAEMON_URL=%URL%
call :start generator "metrics_generator.py --stream --servers %TFTMON_DEMO_SERVERS% --backfill-hours %TFTMON_DEMO_BACKFILL_HOURS% --url %URL%"
call :start dashboard "-m streamlit run tft_dashboard_web.py --server.port %TFTMON_DASHBOARD_PORT% --server.address 127.0.0.1 --server.headless true --browser.gatherUsageStats false"
call :wait dashboard http://127.0.0.1:%TFTMON_DASHBOARD_PORT%/_stcore/health 60 || exit /b 1

echo.
echo tftmon is running.
echo   dashboard: http://127.0.0.1:%TFTMON_DASHBOARD_PORT%
echo   daemon:    %URL%   (API docs: %URL%/docs)
echo   logs:      logs\daemon.log, logs\generator.log, logs\dashboard.log
echo Stop with stop_all.bat
exit /b 0

:start
rem :start NAME "ARGS": skip when run\NAME.pid names a live process
if exist run\%1.pid (
  set /p OLD=<run\%1.pid
  tasklist /FI "PID eq !OLD!" 2>nul | findstr /c:"!OLD!" >nul && (echo %1 already running ^(pid !OLD!^) & exit /b 0)
)
powershell -NoProfile -Command "$p = Start-Process -FilePath '%PY%' -ArgumentList '%~2' -WindowStyle Hidden -PassThru -RedirectStandardOutput 'logs\%1.log' -RedirectStandardError 'logs\%1.err.log'; Set-Content -Path 'run\%1.pid' -Value $p.Id -Encoding ascii"
set /p NEW=<run\%1.pid
echo started %1 (pid !NEW!)
exit /b 0

:wait
rem :wait NAME URL SECONDS
powershell -NoProfile -Command "$end = (Get-Date).AddSeconds(%3); while ((Get-Date) -lt $end) { try { Invoke-WebRequest -UseBasicParsing -TimeoutSec 1 '%2' | Out-Null; exit 0 } catch { Start-Sleep -Milliseconds 500 } }; exit 1"
if errorlevel 1 (
  echo %1 did not answer %2 within %3 s; see logs\%1.log and logs\%1.err.log
  exit /b 1
)
exit /b 0
