<#
.SYNOPSIS
    One Confiture measurement, run by Invoke-Benchmark.ps1 in a process of its own.
.DESCRIPTION
    Imports the module, connects to the two bench databases (the servers named by the
    CONFITURE_TEST_SOURCE and CONFITURE_TEST_TARGET connection strings, with Database replaced),
    sets up postgres_fdw with Enable-ConfitureFdw (not timed), then times only the measured call
    with a Stopwatch:

      -Mode Migrate  one Invoke-ConfitureTableMigration -Strategy <Strategy> -Truncate -Force
                     [-DeferIndexes] [-Parallel N]
      -Mode Verify   Test-ConfitureMigration -Table <Table>, -Repeat times
      -Mode Checksum Test-ConfitureMigration -Table <Table> -Checksum, -Repeat times
      -Mode Sync     Invoke-ConfitureTableMigration -Sync once, then a checksum must match
      -Mode Run      one Invoke-ConfitureTableMigration of every table given (-Table a,b,c) -Truncate
                     -Force [-DeferIndexes] [-ThrottleLimit N, when the cmdlet has that parameter]
      -Mode Plan     Get-ConfitureStrategy -Table <the tables>, once

    Import-Module, the two Connect-ConfitureDatabase calls and Enable-ConfitureFdw are timed too
    (importSeconds, connectSeconds, enableSeconds), for the cost of starting in a fresh process.

    It ends with one line on stdout, "BENCH-RESULT <json>": the seconds, the rows, the part of
    them the table's ANALYZE took (Migrate: the result's AnalyzeElapsed, inside the load), and the peak
    resident memory of this process (VmHWM from /proc/self/status), read after everything else.
    The FDW objects are removed before the line is written; the bench databases stay.
    Connection strings are never printed.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $ModulePath,
    [Parameter(Mandatory)][string] $SourceDatabase,
    [Parameter(Mandatory)][string] $TargetDatabase,
    # One table, or (Run, Plan) several separated by commas: -File passes every argument as one string.
    [Parameter(Mandatory)][string] $Table,
    [ValidateSet('Migrate', 'Verify', 'Checksum', 'Sync', 'Run', 'Plan')][string] $Mode = 'Migrate',
    [ValidateSet('Copy', 'Fdw')][string] $Strategy = 'Copy',
    [switch] $DeferIndexes,
    [ValidateRange(1, 64)][int] $Parallel = 1,
    [ValidateRange(1, 100)][int] $Repeat = 1,
    [ValidateRange(1, 64)][int] $ThrottleLimit = 1
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$ProgressPreference = 'SilentlyContinue'

function Get-BenchConnectionString([string] $Variable, [string] $Database) {
    $value = [Environment]::GetEnvironmentVariable($Variable)
    if (-not $value) { throw "$Variable is not set." }
    # DbConnectionStringBuilder is an IDictionary: call the property accessors, not `.ConnectionString =`.
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder.set_ConnectionString($value)
    foreach ($alias in 'Database', 'DB') { [void]$builder.Remove($alias) }
    $builder['Database'] = $Database
    $builder.get_ConnectionString()
}

function Get-PeakResidentMegabytes {
    $line = Get-Content -LiteralPath '/proc/self/status' | Where-Object { $_ -like 'VmHWM:*' } | Select-Object -First 1
    if (-not $line) { return $null }
    [math]::Round([double](($line -split '\s+')[1]) / 1024, 1)
}

$tables = @($Table -split ',' | Where-Object { $_ })
$startup = [System.Diagnostics.Stopwatch]::StartNew()
Import-Module $ModulePath -Force
$importSeconds = $startup.Elapsed.TotalSeconds

$source = Connect-ConfitureDatabase -ConnectionString (Get-BenchConnectionString 'CONFITURE_TEST_SOURCE' $SourceDatabase) -Name source
$target = Connect-ConfitureDatabase -ConnectionString (Get-BenchConnectionString 'CONFITURE_TEST_TARGET' $TargetDatabase) -Name target
$connectSeconds = $startup.Elapsed.TotalSeconds - $importSeconds
$fdw = @{ Source = $source; Target = $target; Table = $tables }
if ($env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET) { $fdw.SourceHostForTarget = $env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET }
if ($env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET) { $fdw.SourcePortForTarget = [int]$env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET }
$migration = Enable-ConfitureFdw @fdw
$setupSeconds = $startup.Elapsed.TotalSeconds
$enableSeconds = $setupSeconds - $importSeconds - $connectSeconds
$detail = @()
$throttleApplied = $false

$seconds = [System.Collections.Generic.List[double]]::new()
$rows = 0L
$analyzeSeconds = $null
try {
    if ($Mode -eq 'Migrate') {
        $options = @{ Migration = $migration; SourceTable = $Table; Strategy = $Strategy; Truncate = $true; Force = $true }
        if ($DeferIndexes) { $options.DeferIndexes = $true }
        if ($Parallel -gt 1) { $options.Parallel = $Parallel }
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-ConfitureTableMigration @options
        $clock.Stop()
        if (-not $result) { throw "Invoke-ConfitureTableMigration returned nothing for $Table." }
        $seconds.Add($clock.Elapsed.TotalSeconds)
        $rows = [long]$result.RowsMigrated
        if ($null -ne $result.AnalyzeElapsed) { $analyzeSeconds = $result.AnalyzeElapsed.TotalSeconds }
    }
    elseif ($Mode -eq 'Run') {
        $options = @{ Migration = $migration; SourceTable = $tables; Truncate = $true; Force = $true }
        if ($DeferIndexes) { $options.DeferIndexes = $true }
        # -ThrottleLimit comes with parallel runs; a module without it runs the tables one at a time.
        if ((Get-Command Invoke-ConfitureTableMigration).Parameters.ContainsKey('ThrottleLimit')) {
            $options.ThrottleLimit = $ThrottleLimit
            $throttleApplied = $true
        }
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $results = @(Invoke-ConfitureTableMigration @options)
        $clock.Stop()
        if ($results.Count -ne $tables.Count) { throw "Invoke-ConfitureTableMigration returned $($results.Count) results for $($tables.Count) tables." }
        $seconds.Add($clock.Elapsed.TotalSeconds)
        $rows = [long]($results | Measure-Object RowsMigrated -Sum).Sum
        $detail = @($results | ForEach-Object { [ordered]@{ table = $_.SourceTable; rows = [long]$_.RowsMigrated; seconds = $_.Elapsed.TotalSeconds; strategy = "$($_.Strategy)" } })
    }
    elseif ($Mode -eq 'Plan') {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $plans = @(Get-ConfitureStrategy -Migration $migration -Table $tables)
        $clock.Stop()
        $seconds.Add($clock.Elapsed.TotalSeconds)
        $rows = [long]($plans | Measure-Object RowCount -Sum).Sum
        $detail = @($plans | ForEach-Object {
                [ordered]@{ table = $_.Table; rows = $_.RowCount; strategy = "$($_.Strategy)"; estimate = $_.EstimatedSeconds; copy = $_.CopySeconds
                    fdw = $_.FdwSeconds; basis = $_.Basis; assumptions = $_.Assumptions -join '; ' }
            })
    }
    elseif ($Mode -eq 'Sync') {
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $result = Invoke-ConfitureTableMigration -Migration $migration -SourceTable $Table -Sync -Confirm:$false
        $clock.Stop()
        $seconds.Add($clock.Elapsed.TotalSeconds)
        $rows = [long]$result.RowsMigrated
        $check = Test-ConfitureMigration -Migration $migration -Table $Table -Checksum
        if (-not $check.Match) { throw "After -Sync, $Table does not match by checksum." }
    }
    else {
        for ($i = 0; $i -lt $Repeat; $i++) {
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            $check = Test-ConfitureMigration -Migration $migration -Table $Table -Checksum:($Mode -eq 'Checksum')
            $clock.Stop()
            if (-not $check.Match) { throw "Test-ConfitureMigration: $Table does not match (source $($check.SourceCount), target $($check.TargetCount))." }
            $seconds.Add($clock.Elapsed.TotalSeconds)
            $rows = [long]$check.TargetCount
        }
    }
}
finally {
    $cleanup = [System.Diagnostics.Stopwatch]::StartNew()
    $migration | Remove-ConfitureFdw
    $cleanup.Stop()
}

$report = [ordered]@{
    seconds = $seconds.ToArray(); rows = $rows; analyzeSeconds = $analyzeSeconds; peakMB = Get-PeakResidentMegabytes
    setupSeconds = $setupSeconds; cleanupSeconds = $cleanup.Elapsed.TotalSeconds
    importSeconds = $importSeconds; connectSeconds = $connectSeconds; enableSeconds = $enableSeconds
    throttleApplied = $throttleApplied; detail = $detail
}
Write-Output ('BENCH-RESULT ' + ($report | ConvertTo-Json -Compress -Depth 5))
