<#
.SYNOPSIS
    Measures Confiture against psql, postgres_fdw by hand and pgcopydb, and writes bench/RESULTS.md.
.DESCRIPTION
    Runs on the two servers named by CONFITURE_TEST_SOURCE and CONFITURE_TEST_TARGET (superuser
    connection strings, keyword form), as `build.ps1 Bench` starts them. It creates the databases
    confiture_bench_source and confiture_bench_target (dropping leftovers of an earlier run), loads
    the source once, then, per table (a narrow one of -Rows rows and a wide one of 20 columns),
    runs every method -Repeat times, round-robin so that drift on a shared machine spreads over
    all methods, and reports the medians:

      psql binary pipe      psql COPY TO STDOUT (binary) | psql -1 TRUNCATE + COPY FROM STDIN
      hand-written FDW      TRUNCATE + INSERT ... SELECT over postgres_fdw with default options
      pgcopydb              pgcopydb copy table-data, restricted to the table by a filter file
      Confiture ...         Invoke-ConfitureTableMigration -Truncate -Force, each in a process of
                            its own (Measure-Confiture.ps1) that times only the call and reports its
                            peak resident memory

    Before each run the target table is emptied and both servers checkpoint (not timed); after
    each run the target's row count and primary key are checked, and the run fails loudly when
    they are wrong. It also measures the Copy strategy's peak memory on a table a fifth the size,
    and times Test-ConfitureMigration per table. The databases are dropped at the end.

    Needs psql, bash and pgcopydb on PATH (as root with apt-get, pgcopydb is installed when
    missing). Connection strings and passwords are never printed: the native tools read the
    passwords from a temporary pgpass file.
.PARAMETER ModulePath
    The Confiture module manifest to measure (build.ps1 Build leaves it in out/Confiture).
.PARAMETER Rows
    Rows of the narrow table. The wide table has a fifth of that, at most 1,000,000.
.PARAMETER ResultsPath
    Where the Markdown report goes.
.PARAMETER Repeat
    Runs per method and table; the median is reported.
.EXAMPLE
    dotnet pwsh -NoProfile -File build.ps1 Bench -Rows 200000
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [ValidateRange(1000, 1000000000)][int] $Rows = 5000000,
    [string] $ResultsPath = (Join-Path $PSScriptRoot 'RESULTS.md'),
    [ValidateRange(1, 15)][int] $Repeat = 3
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$ProgressPreference = 'SilentlyContinue'

Import-Module (Join-Path $PSScriptRoot 'BenchData.psm1') -Force
Import-Module (Join-Path $PSScriptRoot 'BenchTools.psm1') -Force

$script:Clock = [System.Diagnostics.Stopwatch]::StartNew()
$script:SourceDatabase = 'confiture_bench_source'
$script:TargetDatabase = 'confiture_bench_target'
$script:PlainFdwServer = 'bench_plain_source'
$script:PlainFdwSchema = 'bench_plain_fdw'
$script:ChildScript = Join-Path $PSScriptRoot 'Measure-Confiture.ps1'

# The methods, in the order they run within a round and appear in the report.
$script:Methods = @(
    [pscustomobject]@{ Key = 'pipe'; Name = 'psql binary pipe'; Kind = 'PsqlPipe' }
    [pscustomobject]@{ Key = 'plainfdw'; Name = 'INSERT ... SELECT over postgres_fdw (default options)'; Kind = 'PlainFdw' }
    [pscustomobject]@{ Key = 'pgcopydb'; Name = 'pgcopydb copy table-data'; Kind = 'Pgcopydb' }
    [pscustomobject]@{ Key = 'copy'; Name = 'Confiture -Strategy Copy'; Kind = 'Confiture'; Strategy = 'Copy'; DeferIndexes = $false; Parallel = 1 }
    [pscustomobject]@{ Key = 'fdw'; Name = 'Confiture -Strategy Fdw'; Kind = 'Confiture'; Strategy = 'Fdw'; DeferIndexes = $false; Parallel = 1 }
    [pscustomobject]@{ Key = 'copydefer'; Name = 'Confiture -Strategy Copy -DeferIndexes'; Kind = 'Confiture'; Strategy = 'Copy'; DeferIndexes = $true; Parallel = 1 }
    [pscustomobject]@{ Key = 'fdwdefer'; Name = 'Confiture -Strategy Fdw -DeferIndexes'; Kind = 'Confiture'; Strategy = 'Fdw'; DeferIndexes = $true; Parallel = 1 }
    [pscustomobject]@{ Key = 'copypar'; Name = 'Confiture -Strategy Copy -Parallel 2 -DeferIndexes'; Kind = 'Confiture'; Strategy = 'Copy'; DeferIndexes = $true; Parallel = 2 }
)

# --- Setup -----------------------------------------------------------------------------------------

function Initialize-BenchData($Source, $Target, [object[]] $Tables) {
    foreach ($server in $Source, $Target) {
        Remove-BenchDatabase $server
        Invoke-Psql $server "CREATE DATABASE $($server.Database) TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" -Database postgres | Out-Null
    }

    foreach ($table in $Tables) {
        Write-BenchLog "Loading $($table.Name) on the source: $(Format-Number $table.Rows) rows ($($table.Kind))"
        $sql = if ($table.CopyOf) {
            "CREATE TABLE public.$($table.Name) AS SELECT * FROM public.$($table.CopyOf) WHERE id <= $($table.Rows);"
        }
        else {
            (Get-BenchTableSql -Kind $table.Kind -Name $table.Name) + "`n" + (Get-BenchLoadSql -Kind $table.Kind -Name $table.Name -Rows $table.Rows)
        }
        # The source keeps its key too (as an old schema would): -Parallel splits on it. The
        # VACUUM sets hint bits and the visibility map, so no method pays for that on its first read.
        Invoke-Psql $Source "$sql`nALTER TABLE public.$($table.Name) ADD PRIMARY KEY (id);`nVACUUM (FREEZE, ANALYZE) public.$($table.Name);" | Out-Null
        $table.SourceCount = [long](Invoke-Psql $Source "SELECT count(*) FROM public.$($table.Name)")
        $table.SourceMB = [double](Invoke-Psql $Source "SELECT round(pg_table_size('public.$($table.Name)') / 1048576.0, 1)")
        if ($table.SourceCount -ne $table.Rows) { throw "The source's $($table.Name) holds $($table.SourceCount) rows instead of $($table.Rows)." }

        # Autovacuum off on the target: it would analyze each freshly loaded table in the
        # background, on the cores the next run needs.
        Invoke-Psql $Target (Get-BenchTableSql -Kind $table.Kind -Name $table.Name -PrimaryKey -NoAutovacuum) | Out-Null
    }
}

function Initialize-PlainFdw($Source, $Target, [object[]] $Tables) {
    <# What a DBA writes by hand: a server with default options, a user mapping, IMPORT FOREIGN SCHEMA. #>
    $literal = { param([string] $v) "'" + ($v -replace "'", "''") + "'" }
    $fdwHost = if ($env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET) { $env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET } else { $Source.Host }
    $fdwPort = if ($env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET) { $env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET } else { [string]$Source.Port }
    $names = ($Tables | ForEach-Object { $_.Name }) -join ', '
    $sql = @"
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE SERVER $script:PlainFdwServer FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host $(& $literal $fdwHost), port $(& $literal $fdwPort), dbname $(& $literal $Source.Database));
CREATE USER MAPPING FOR CURRENT_USER SERVER $script:PlainFdwServer
    OPTIONS (user $(& $literal $Source.Username), password $(& $literal $Source.Password));
CREATE SCHEMA $script:PlainFdwSchema;
IMPORT FOREIGN SCHEMA public LIMIT TO ($names) FROM SERVER $script:PlainFdwServer INTO $script:PlainFdwSchema;
"@
    Invoke-Psql $Target $sql -Secret | Out-Null
}

# --- One run of each kind of method ------------------------------------------------------------------

function Reset-Target($Source, $Target, $Table) {
    <# Not timed: an empty target table, and no checkpoint left over from the previous run. #>
    Invoke-Psql $Target "TRUNCATE public.$($Table.Name); CHECKPOINT;" | Out-Null
    Invoke-Psql $Source 'CHECKPOINT;' | Out-Null
    Wait-DiskQuiet
}

function Measure-PsqlPipe($Source, $Target, $Table) {
    $pipeline = @'
set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "COPY $3 TO STDOUT (FORMAT binary)" |
    psql -X -q -v ON_ERROR_STOP=1 -1 -d "$2" -c "TRUNCATE $3" -c "COPY $3 FROM STDIN (FORMAT binary)"
'@
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    Invoke-Checked bash @('-c', $pipeline, 'bench-pipe', (Get-LibpqDsn $Source), (Get-LibpqDsn $Target), "public.$($Table.Name)") -Description 'psql binary pipe' | Out-Null
    [pscustomobject]@{ Seconds = $clock.Elapsed.TotalSeconds; PeakMB = $null }
}

function Measure-PlainFdw($Target, $Table) {
    $name = $Table.Name
    $arguments = @('-X', '-q', '-v', 'ON_ERROR_STOP=1', '-1', '-d', (Get-LibpqDsn $Target),
        '-c', "TRUNCATE public.$name", '-c', "INSERT INTO public.$name SELECT * FROM $script:PlainFdwSchema.$name")
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    Invoke-Checked psql $arguments -Description 'INSERT ... SELECT over postgres_fdw' | Out-Null
    [pscustomobject]@{ Seconds = $clock.Elapsed.TotalSeconds; PeakMB = $null }
}

function Measure-Pgcopydb($Source, $Target, $Table, [string] $WorkDirectory) {
    # pgcopydb 0.10: a fresh --dir each run (it refuses to reuse one without --restart/--resume).
    $filters = Join-Path $WorkDirectory "filters-$($Table.Name).ini"
    if (-not (Test-Path $filters)) { Set-Content -LiteralPath $filters -Value "[include-only-table]`npublic.$($Table.Name)" }
    $directory = Join-Path $WorkDirectory ('pgcopydb-' + [guid]::NewGuid().ToString('N'))
    $arguments = @('copy', 'table-data', '--source', (Get-PostgresUri $Source), '--target', (Get-PostgresUri $Target), '--filters', $filters)
    $seconds = Invoke-TimedPgcopydb -Arguments $arguments -Directory $directory -Description 'pgcopydb copy table-data'
    [pscustomobject]@{ Seconds = $seconds; PeakMB = $null }
}

function Invoke-ConfitureChild([hashtable] $Parameters) {
    <# Runs Measure-Confiture.ps1 in a new PowerShell process and returns its BENCH-RESULT. #>
    $pwsh = @(Get-PwshCommand)
    $arguments = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $script:ChildScript,
        '-ModulePath', $script:ModuleManifest, '-SourceDatabase', $script:SourceDatabase, '-TargetDatabase', $script:TargetDatabase)
    foreach ($name in $Parameters.Keys) {
        $value = $Parameters[$name]
        if ($value -is [bool]) { if ($value) { $arguments += "-$name" } }
        else { $arguments += @("-$name", [string]$value) }
    }
    $output = @(& $pwsh[0] @arguments | ForEach-Object { "$_" })
    if ($LASTEXITCODE -ne 0) {
        throw "Measure-Confiture.ps1 $(($Parameters.GetEnumerator() | ForEach-Object { "-$($_.Key) $($_.Value)" }) -join ' ') failed with exit code $LASTEXITCODE$([Environment]::NewLine)$($output -join [Environment]::NewLine)"
    }
    $line = $output | Where-Object { $_.StartsWith('BENCH-RESULT ') } | Select-Object -Last 1
    if (-not $line) { throw "Measure-Confiture.ps1 reported no result:$([Environment]::NewLine)$($output -join [Environment]::NewLine)" }
    $output | Where-Object { -not $_.StartsWith('BENCH-RESULT ') -and $_.Trim() } | ForEach-Object { Write-Host "    child: $_" }
    $line.Substring('BENCH-RESULT '.Length) | ConvertFrom-Json
}

function Measure-Confiture($Method, $Table) {
    $report = Invoke-ConfitureChild @{
        Table = $Table.Name; Mode = 'Migrate'; Strategy = $Method.Strategy; DeferIndexes = [bool]$Method.DeferIndexes; Parallel = $Method.Parallel
    }
    if ([long]$report.rows -ne $Table.SourceCount) { throw "$($Method.Name) on $($Table.Name) reported $($report.rows) rows migrated; the source holds $($Table.SourceCount)." }
    [pscustomobject]@{ Seconds = [double]@($report.seconds)[0]; PeakMB = [double]$report.peakMB; AnalyzeSeconds = $report.analyzeSeconds }
}

function Assert-TargetMatches($Target, $Table, [string] $MethodName) {
    <# Cheap correctness: the target holds as many rows as the source, and its primary key is back in place. #>
    $name = $Table.Name
    $row = Invoke-Psql $Target @"
SELECT count(*), (SELECT count(*) FROM pg_index WHERE indrelid = 'public.$name'::regclass AND indisprimary AND indisvalid)
FROM public.$name
"@
    $count, $keys = "$row" -split "`t"
    if ([long]$count -ne $Table.SourceCount) {
        throw "WRONG RESULT: after '$MethodName' the target's $name holds $count rows; the source holds $($Table.SourceCount)."
    }
    if ([int]$keys -ne 1) {
        throw "WRONG RESULT: after '$MethodName' the target's $name has no valid primary key."
    }
}

function Invoke-Method($Method, $Source, $Target, $Table, [string] $WorkDirectory) {
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    Reset-Target $Source $Target $Table
    $run = switch ($Method.Kind) {
        'PsqlPipe' { Measure-PsqlPipe $Source $Target $Table }
        'PlainFdw' { Measure-PlainFdw $Target $Table }
        'Pgcopydb' { Measure-Pgcopydb $Source $Target $Table $WorkDirectory }
        'Confiture' { Measure-Confiture $Method $Table }
    }
    Assert-TargetMatches $Target $Table $Method.Name
    # Everything around the measured part, to see where a run's wall-clock time goes.
    $run | Add-Member -NotePropertyName WallSeconds -NotePropertyValue $clock.Elapsed.TotalSeconds -PassThru
}

function Measure-Table([object[]] $Methods, $Source, $Target, $Table, [string] $WorkDirectory) {
    <# Every method -Repeat times on one table, round-robin; returns method key -> runs and peaks. #>
    $results = [ordered]@{}
    foreach ($method in $Methods) {
        $results[$method.Key] = [pscustomobject]@{ Runs = [System.Collections.Generic.List[double]]::new(); Peaks = [System.Collections.Generic.List[double]]::new(); Analyze = [System.Collections.Generic.List[double]]::new() }
    }
    for ($round = 1; $round -le $Repeat; $round++) {
        $roundClock = [System.Diagnostics.Stopwatch]::StartNew()
        foreach ($method in $Methods) {
            $run = Invoke-Method $method $Source $Target $Table $WorkDirectory
            $results[$method.Key].Runs.Add($run.Seconds)
            if ($null -ne $run.PeakMB) { $results[$method.Key].Peaks.Add($run.PeakMB) }
            if ($null -ne $run.PSObject.Properties['AnalyzeSeconds'] -and $null -ne $run.AnalyzeSeconds) { $results[$method.Key].Analyze.Add([double]$run.AnalyzeSeconds) }
            $peak = if ($null -ne $run.PeakMB) { ", peak $(Format-Number $run.PeakMB 0) MB" } else { '' }
            Write-BenchLog ('{0} run {1}/{2}: {3,-52} {4,7} s {5,11} rows/s{6} (wall {7} s)' -f $Table.Name, $round, $Repeat, $method.Name,
                (Format-Number $run.Seconds 2), (Format-Number ($Table.Rows / $run.Seconds) 0), $peak, (Format-Number $run.WallSeconds 1))
        }
        if ($round -eq 1 -and $Repeat -gt 1 -and $Methods.Count -gt 1) {
            $left = $roundClock.Elapsed.TotalSeconds * ($Repeat - 1)
            Write-BenchLog ('{0}: round 1 took {1} s; the other rounds should end about {2:HH:mm:ss}' -f $Table.Name, (Format-Number $roundClock.Elapsed.TotalSeconds 0), (Get-Date).AddSeconds($left))
        }
    }
    return $results
}

# --- The report ------------------------------------------------------------------------------------

function Format-TableSection($Table, $Results) {
    $pipe = Get-Median $Results['pipe'].Runs
    $lines = @(
        "## $($Table.Title): ``$($Table.Name)`` ($(Format-Number $Table.Rows) rows, $($Table.Columns) columns, $(Format-Number $Table.SourceMB 1) MB on the source)"
        ''
        '| method | median s | runs (s) | rows/s | vs psql pipe | peak MB | of which ANALYZE s |'
        '|---|---:|---|---:|---:|---:|---:|'
    )
    foreach ($method in $script:Methods) {
        $entry = $Results[$method.Key]
        $median = Get-Median $entry.Runs
        $runs = ($entry.Runs | ForEach-Object { Format-Number $_ 2 }) -join ', '
        $peak = if ($entry.Peaks.Count) { Format-Number (Get-Median $entry.Peaks) 0 } else { '' }
        # Confiture analyzes each table inside its load (pgcopydb's VACUUM ANALYZE is inside its time too): its share, median of the runs.
        $analyze = if ($entry.Analyze.Count) { Format-Number (Get-Median $entry.Analyze) 2 } else { '' }
        $lines += "| $($method.Name) | $(Format-Number $median 2) | $runs | $(Format-Number ($Table.Rows / $median) 0) | $(Format-Number (Get-Ratio $pipe $median) 2) | $peak | $analyze |"
    }
    $lines += ''
    $lines
}

function Get-PlannerRows($Tables, $AllResults, $Plans) {
    <# Per table: what Auto advised, the faster strategy measured, and each estimate against its median. #>
    foreach ($table in $Tables) {
        $plan = $Plans[$table.Name]
        $copy = Get-Median $AllResults[$table.Name]['copy'].Runs
        $fdw = Get-Median $AllResults[$table.Name]['fdw'].Runs
        $faster = if ($copy -le $fdw) { 'Copy' } else { 'Fdw' }
        $chosen = if ($plan.strategy -eq 'Copy') { $copy } else { $fdw }
        [pscustomobject]@{
            Table = $table.Name; Kind = $table.Kind; Advised = $plan.strategy; Faster = $faster; ChoiceRatio = $chosen / [math]::Min($copy, $fdw)
            Estimate = [double]$plan.estimate; Measured = $chosen; Error = ([double]$plan.estimate - $chosen) / $chosen
            CopyEstimate = [double]$plan.copy; CopyMeasured = $copy; CopyError = ([double]$plan.copy - $copy) / $copy
            FdwEstimate = [double]$plan.fdw; FdwMeasured = $fdw; FdwError = ([double]$plan.fdw - $fdw) / $fdw
            Basis = $plan.basis; Assumptions = $plan.assumptions
        }
    }
}

function Format-Percent([double] $Value) { '{0}{1} %' -f $(if ($Value -gt 0) { '+' } else { '' }), (Format-Number ($Value * 100) 0) }

function Write-Results($Machine, $Tables, $AllResults, $Memory, $Verification, [string] $CommandLine, $Checksums, $Sync, $Planner, [double] $PlanSeconds) {
    $main = $Tables | Where-Object { -not $_.CopyOf }
    # Sections other tasks measure (the cutover freeze of build.ps1 Cutover, the whole database of
    # build.ps1 WholeDatabase) and the notes on what a run did not meet are kept as they were.
    $kept = @(foreach ($name in 'notes', 'cutover', 'whole-database') {
            $section = @(Get-ResultsSection -Path $ResultsPath -Name $name)
            if ($section.Count) { $section; '' }
        })
    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add('# Confiture benchmark results')
    $lines.Add('')
    $lines.Add("Run on $((Get-Date).ToUniversalTime().ToString('yyyy-MM-dd HH:mm', [cultureinfo]::InvariantCulture)) UTC with")
    $lines.Add('')
    $lines.Add('```')
    $lines.Add($CommandLine)
    $lines.Add('```')
    $lines.Add('')
    $lines.Add("(which calls ``bench/Invoke-Benchmark.ps1 -ModulePath <out/Confiture/Confiture.psd1> -Rows $Rows -Repeat $Repeat``); the whole benchmark took $(Format-Number $script:Clock.Elapsed.TotalMinutes 1) minutes, data load included.")
    $lines.Add('')
    $lines.Add('## Machine')
    $lines.Add('')
    $lines.Add('| | |')
    $lines.Add('|---|---|')
    foreach ($key in $Machine.Keys) { $lines.Add("| $key | $($Machine[$key]) |") }
    $lines.Add('')
    $lines.Add('## How it was measured')
    $lines.Add('')
    $lines.Add('- Source and target are two PostgreSQL clusters on this machine, connected over loopback. The source tables are loaded once (generate_series, deterministic), with a primary key, and vacuumed; the target tables have the same columns and a primary key, autovacuum off.')
    $lines.Add("- Each method runs $Repeat times per table, round-robin (one run of every method, then the next round), so drift on the shared machine spreads over all of them. The median is reported; rows/s = rows / median; *vs psql pipe* = the pipe's median seconds / the method's median seconds (above 1 is faster than the pipe).")
    $lines.Add('- Before every run (and before the planner) the target table is emptied, both servers run CHECKPOINT and the operating system writes its dirty pages out (`sync`), none of it timed. After every run the target''s row count is compared with the source''s, and its primary key must be present and valid; a mismatch stops the benchmark.')
    $lines.Add('- psql binary pipe: `psql -c "COPY t TO STDOUT (FORMAT binary)" | psql -1 -c "TRUNCATE t" -c "COPY t FROM STDIN (FORMAT binary)"`, timed around the whole bash pipeline.')
    $lines.Add("- postgres_fdw by hand: a server without options beyond host/port/dbname (so fetch_size 100), a user mapping, ``IMPORT FOREIGN SCHEMA`` into ``$script:PlainFdwSchema``; timed: ``psql -1 -c ""TRUNCATE t"" -c ""INSERT INTO t SELECT * FROM $script:PlainFdwSchema.t""``.")
    $lines.Add('- pgcopydb: `pgcopydb copy table-data --source <uri> --target <uri> --dir <fresh dir> --filters <[include-only-table] t>`, default options otherwise; timed around the process. Version 0.10 does not truncate the target itself (the benchmark empties it first), runs `VACUUM ANALYZE` on the table after its COPY as part of `copy table-data` (so that is in its time), and exits 0 even when the COPY fails (it only logs ERROR): the benchmark treats such a log line as a failure, and the row-count check would catch it too. It copies as text in each server''s DateStyle, so it runs with `PGDATESTYLE=''ISO, YMD''` and `PGTZ=UTC` (the test servers use different styles and zones).')
    $lines.Add("- Confiture: ``Invoke-ConfitureTableMigration -Truncate -Force`` (plus the options shown) in a new PowerShell process per run ($((Split-Path -Leaf $script:ChildScript))); Import-Module, Connect-ConfitureDatabase and Enable-ConfitureFdw (default fetch size) are not timed, only the Invoke call (Stopwatch inside the process). *peak MB* is that process's VmHWM (peak resident set, PowerShell itself included), median of the runs. Each load analyzes its table in its own transaction after the index (as pgcopydb's VACUUM ANALYZE is in its time): *of which ANALYZE s* is that step's part of the median seconds (the result's AnalyzeElapsed, median of the runs).")
    $lines.Add('')
    foreach ($table in $main) { $lines.AddRange([string[]](Format-TableSection $table $AllResults[$table.Name])) }

    $lines.Add('## Memory growth (Copy strategy, narrow table)')
    $lines.Add('')
    $lines.Add("Peak resident memory (VmHWM) of the PowerShell process that ran ``Invoke-ConfitureTableMigration -Strategy Copy -Truncate -Force``, median of $Repeat runs each (the full table's are the Copy runs above).")
    $lines.Add('')
    $lines.Add('| table | rows | peak MB (median) | runs (MB) |')
    $lines.Add('|---|---:|---:|---|')
    foreach ($run in $Memory.Small, $Memory.Large) {
        $lines.Add("| $($run.Table) | $(Format-Number $run.Rows) | $(Format-Number $run.PeakMB 1) | $(($run.Peaks | ForEach-Object { Format-Number $_ 1 }) -join ', ') |")
    }
    $lines.Add('')
    $lines.Add("Ratio ($(Format-Number $Memory.Large.Rows) rows / $(Format-Number $Memory.Small.Rows) rows): $(Format-Number $Memory.Ratio 2).")
    $lines.Add('')

    $lines.Add('## Row-count verification (`Test-ConfitureMigration -Table t`, for reference)')
    $lines.Add('')
    $lines.Add('| table | rows | median s | runs (s) |')
    $lines.Add('|---|---:|---:|---|')
    foreach ($table in $main) {
        $v = $Verification[$table.Name]
        $lines.Add("| $($table.Name) | $(Format-Number $table.Rows) | $(Format-Number (Get-Median $v) 2) | $(($v | ForEach-Object { Format-Number $_ 2 }) -join ', ') |")
    }
    $lines.Add('')

    $lines.Add('## Content checksum against migration (`Test-ConfitureMigration -Checksum`)')
    $lines.Add('')
    $lines.Add('Each server hashes every row of the table itself, both at once; compared with the Copy strategy''s median time to migrate the same table.')
    $lines.Add('')
    $lines.Add('| table | rows | checksum median s | runs (s) | Copy median s | checksum / Copy |')
    $lines.Add('|---|---:|---:|---|---:|---:|')
    foreach ($table in $main) {
        $c = $Checksums[$table.Name]
        $copy = Get-Median $AllResults[$table.Name]['copy'].Runs
        $lines.Add("| $($table.Name) | $(Format-Number $table.Rows) | $(Format-Number (Get-Median $c) 2) | $(($c | ForEach-Object { Format-Number $_ 2 }) -join ', ') | $(Format-Number $copy 2) | $(Format-Number ((Get-Median $c) / $copy) 2) |")
    }
    $lines.Add('')
    $lines.Add('## Sync against a full re-migration (`Invoke-ConfitureTableMigration -Sync`)')
    $lines.Add('')
    $copyUsers = Get-Median $AllResults['users']['copy'].Runs
    $lines.Add("After $(Format-Number $Sync.Changed) rows of users changed on the source (one run): -Sync took $(Format-Number $Sync.Seconds 2) s and rewrote the $(Format-Number $Sync.Rows) rows that differed (a digest of both tables, then of small key ranges, then the rows of the ranges that differ); migrating the table again with Copy takes $(Format-Number $copyUsers 2) s (median above), so the sync took $(Format-Number ($Sync.Seconds / $copyUsers) 2) of a re-migration. A checksum afterwards matched.")
    $lines.Add('')

    $lines.Add('## The planner (`Get-ConfitureStrategy`, what `-Strategy Auto` runs for a table alone)')
    $lines.Add('')
    $lines.Add("Run once before the methods above, on the empty target ($(Format-Number $PlanSeconds 2) s for both tables, sampling included); its advice and estimates against the medians of Confiture -Strategy Copy and -Strategy Fdw. *choice ratio* = the median of the advised strategy / the median of the faster one (1.00: it advised the faster).")
    $lines.Add('')
    $lines.Add('| table | advised | faster measured | choice ratio | estimate s | measured s | error | Copy estimate / measured | Fdw estimate / measured |')
    $lines.Add('|---|---|---|---:|---:|---:|---:|---|---|')
    foreach ($p in $Planner) {
        $lines.Add("| $($p.Table) | $($p.Advised) | $($p.Faster) | $(Format-Number $p.ChoiceRatio 2) | $(Format-Number $p.Estimate 2) | $(Format-Number $p.Measured 2) | $(Format-Percent $p.Error) | $(Format-Number $p.CopyEstimate 2) / $(Format-Number $p.CopyMeasured 2) ($(Format-Percent $p.CopyError)) | $(Format-Number $p.FdwEstimate 2) / $(Format-Number $p.FdwMeasured 2) ($(Format-Percent $p.FdwError)) |")
    }
    $lines.Add('')
    foreach ($p in $Planner) { $lines.Add("- $($p.Table) ($($p.Basis)): $($p.Assumptions)") }
    $lines.Add('')

    $lines.Add('## Targets')
    $lines.Add('')
    $lines.Add('Speed ratio = the other method''s median seconds / Confiture''s median seconds; for memory, the plain ratio.')
    $lines.Add('')
    $lines.Add('| target | table | measured | goal | met |')
    $lines.Add('|---|---|---:|---|---|')
    $speedTargets = @(
        @{ Title = 'Copy strategy / psql binary pipe'; Other = 'pipe'; Mine = 'copy'; Goal = 1.0 }
        @{ Title = 'Copy strategy / pgcopydb'; Other = 'pgcopydb'; Mine = 'copy'; Goal = 1.3 }
        @{ Title = 'Fdw strategy / hand-written INSERT ... SELECT over default postgres_fdw'; Other = 'plainfdw'; Mine = 'fdw'; Goal = 1.4 }
        @{ Title = '-DeferIndexes on an empty target / plain Copy'; Other = 'copy'; Mine = 'copydefer'; Goal = 1.15 }
    )
    $script:TargetsMet = $true
    foreach ($target in $speedTargets) {
        foreach ($table in $main) {
            $results = $AllResults[$table.Name]
            $ratio = Get-Ratio (Get-Median $results[$target.Other].Runs) (Get-Median $results[$target.Mine].Runs)
            $met = $ratio -ge $target.Goal
            if (-not $met) { $script:TargetsMet = $false }
            $lines.Add("| $($target.Title) | $($table.Kind) | $(Format-Number $ratio 2) | >= $($target.Goal.ToString('0.0#', [cultureinfo]::InvariantCulture)) | $(if ($met) { 'yes' } else { '**no**' }) |")
        }
    }
    $memoryMet = $Memory.Ratio -le 1.1 -and $Memory.Large.PeakMB -lt 300
    if (-not $memoryMet) { $script:TargetsMet = $false }
    $lines.Add("| peak memory at $(Format-Number $Memory.Large.Rows) rows / at $(Format-Number $Memory.Small.Rows) rows | narrow | $(Format-Number $Memory.Ratio 2) ($(Format-Number $Memory.Large.PeakMB 0) MB) | <= 1.1, and under 300 MB | $(if ($memoryMet) { 'yes' } else { '**no**' }) |")
    foreach ($p in $Planner) {
        $met = $p.ChoiceRatio -le 1.1
        if (-not $met) { $script:TargetsMet = $false }
        $lines.Add("| Auto's strategy / the faster one measured | $($p.Kind) | $(Format-Number $p.ChoiceRatio 2) ($($p.Advised)) | <= 1.1 | $(if ($met) { 'yes' } else { '**no**' }) |")
    }
    foreach ($p in $Planner) {
        foreach ($pair in @(@('advised', $p.Error), @('Copy', $p.CopyError), @('Fdw', $p.FdwError))) {
            $met = [math]::Abs($pair[1]) -le 0.35
            if (-not $met) { $script:TargetsMet = $false }
            $lines.Add("| estimate error, $($pair[0]) strategy | $($p.Kind) | $(Format-Percent $pair[1]) | within 35 % | $(if ($met) { 'yes' } else { '**no**' }) |")
        }
    }
    $lines.Add('')
    if ($kept.Count) { $lines.AddRange([string[]]($kept | Select-Object -SkipLast 1)) }

    [System.IO.File]::WriteAllLines($ResultsPath, $lines)
}

# --- The benchmark -----------------------------------------------------------------------------------

$script:ModuleManifest = (Resolve-Path -LiteralPath $ModulePath).ProviderPath
$ResultsPath = [System.IO.Path]::GetFullPath($ResultsPath)
$wideRows = [int][math]::Min(1000000, [math]::Max(1, [math]::Floor($Rows / 5)))
$smallRows = [int][math]::Max(1, [math]::Floor($Rows / 5))
$tables = @(
    [pscustomobject]@{ Name = 'users'; Kind = 'narrow'; Title = 'Narrow table'; Columns = 4; Rows = [long]$Rows; CopyOf = $null; SourceCount = 0L; SourceMB = 0.0 }
    [pscustomobject]@{ Name = 'orders_wide'; Kind = 'wide'; Title = 'Wide table'; Columns = 20; Rows = [long]$wideRows; CopyOf = $null; SourceCount = 0L; SourceMB = 0.0 }
    [pscustomobject]@{ Name = 'users_small'; Kind = 'narrow'; Title = 'Narrow table, a fifth'; Columns = 4; Rows = [long]$smallRows; CopyOf = 'users'; SourceCount = 0L; SourceMB = 0.0 }
)

$source = Get-BenchServer 'CONFITURE_TEST_SOURCE' 'source' $script:SourceDatabase
$target = Get-BenchServer 'CONFITURE_TEST_TARGET' 'target' $script:TargetDatabase
$commandLine = Get-CommandLine
$workDirectory = New-Item -ItemType Directory -Path (Join-Path ([System.IO.Path]::GetTempPath()) ('confiture-bench-' + [guid]::NewGuid().ToString('N')))
$savedEnvironment = @{}
$environment = @{
    PGPASSFILE = $null; PGPASSWORD = $null; PGCLIENTENCODING = 'UTF8'; PGTZ = 'UTC'; PGAPPNAME = 'confiture-bench'
    PGOPTIONS = '-c client_min_messages=warning'; PGSSLMODE = $null; PGDATABASE = $null; PGSERVICE = $null
}

Write-BenchLog "Confiture benchmark: narrow $(Format-Number $Rows) rows, wide $(Format-Number $wideRows) rows, $Repeat runs per method"
try {
    foreach ($name in @($environment.Keys)) { $savedEnvironment[$name] = [Environment]::GetEnvironmentVariable($name) }
    $environment.PGPASSFILE = New-PgPassFile $workDirectory.FullName @($source, $target)
    foreach ($name in $environment.Keys) { Set-EnvironmentVariable $name $environment[$name] }

    Install-PgcopydbIfMissing
    Initialize-BenchData $source $target $tables
    $machine = Get-MachineDescription $source $target
    Initialize-PlainFdw $source $target ($tables | Where-Object { -not $_.CopyOf })
    Write-BenchLog 'Data loaded'

    # The planner first, on the empty target a migration would find, once the load is on disk.
    Invoke-Psql $target 'CHECKPOINT;' | Out-Null
    Invoke-Psql $source 'CHECKPOINT;' | Out-Null
    Wait-DiskQuiet
    $planReport = Invoke-ConfitureChild @{ Table = (($tables | Where-Object { -not $_.CopyOf } | ForEach-Object { $_.Name }) -join ','); Mode = 'Plan' }
    $plans = @{}
    foreach ($p in @($planReport.detail)) { $plans[$p.table] = $p }
    Write-BenchLog "Get-ConfitureStrategy: $(Format-Number @($planReport.seconds)[0] 2) s; $((@($planReport.detail) | ForEach-Object { "$($_.table) $($_.strategy) (Copy $(Format-Number $_.copy 2) s, Fdw $(Format-Number $_.fdw 2) s)" }) -join ', ')"

    $allResults = @{}
    foreach ($table in $tables | Where-Object { -not $_.CopyOf }) {
        $allResults[$table.Name] = Measure-Table $script:Methods $source $target $table $workDirectory.FullName
    }

    # Memory growth: the Copy strategy's peak on a table a fifth the size, against the runs above.
    $small = $tables | Where-Object { $_.Name -eq 'users_small' }
    $smallResults = Measure-Table @($script:Methods | Where-Object { $_.Key -eq 'copy' }) $source $target $small $workDirectory.FullName
    $smallPeak = Get-Median $smallResults['copy'].Peaks
    $largePeak = Get-Median $allResults['users']['copy'].Peaks
    $memory = [pscustomobject]@{
        Small = [pscustomobject]@{ Table = $small.Name; Rows = $small.Rows; PeakMB = $smallPeak; Peaks = $smallResults['copy'].Peaks }
        Large = [pscustomobject]@{ Table = 'users'; Rows = [long]$Rows; PeakMB = $largePeak; Peaks = $allResults['users']['copy'].Peaks }
        Ratio = $largePeak / $smallPeak
    }

    $verification = @{}
    $checksums = @{}
    foreach ($table in $tables | Where-Object { -not $_.CopyOf }) {
        $report = Invoke-ConfitureChild @{ Table = $table.Name; Mode = 'Verify'; Repeat = $Repeat }
        $verification[$table.Name] = [double[]]@($report.seconds)
        Write-BenchLog "Test-ConfitureMigration $($table.Name): $((@($report.seconds) | ForEach-Object { Format-Number $_ 2 }) -join ', ') s"
        $report = Invoke-ConfitureChild @{ Table = $table.Name; Mode = 'Checksum'; Repeat = $Repeat }
        $checksums[$table.Name] = [double[]]@($report.seconds)
        Write-BenchLog "Test-ConfitureMigration -Checksum $($table.Name): $((@($report.seconds) | ForEach-Object { Format-Number $_ 2 }) -join ', ') s"
    }

    # Catching up after the application changed 0.1% of the narrow table, against moving it all again.
    $changed = [long][math]::Max(1, [math]::Floor($Rows / 1000))
    Invoke-Psql $source "UPDATE users SET email = 'changed-' || email WHERE id % $([long][math]::Floor($Rows / $changed)) = 0" | Out-Null
    $syncReport = Invoke-ConfitureChild @{ Table = 'users'; Mode = 'Sync' }
    $sync = [pscustomobject]@{ Seconds = [double]@($syncReport.seconds)[0]; Rows = [long]$syncReport.rows; Changed = $changed }
    Write-BenchLog "Invoke-ConfitureTableMigration -Sync users after $changed updates: $(Format-Number $sync.Seconds 2) s, $($sync.Rows) rows moved"

    $planner = @(Get-PlannerRows ($tables | Where-Object { -not $_.CopyOf }) $allResults $plans)
    Write-Results $machine $tables $allResults $memory $verification $commandLine $checksums $sync $planner ([double]@($planReport.seconds)[0])
    Write-BenchLog "Results written to $ResultsPath"
    if (-not $script:TargetsMet) { Write-BenchLog 'Some targets are not met (see the Targets table).' }
}
finally {
    foreach ($server in $source, $target) {
        try { Remove-BenchDatabase $server }
        catch { Write-Warning "Could not drop $($server.Database) on the $($server.Side) server: $($_.Exception.Message)" }
    }
    foreach ($name in $savedEnvironment.Keys) { Set-EnvironmentVariable $name $savedEnvironment[$name] }
    Remove-Item -LiteralPath $workDirectory.FullName -Recurse -Force -ErrorAction SilentlyContinue
    Write-BenchLog 'Done'
}
