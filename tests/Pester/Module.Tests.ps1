BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'The Confiture module' {
    It 'exports exactly the cmdlets of the design' {
        (Get-Command -Module Confiture).Name | Sort-Object | Should -Be @(
            'Connect-ConfitureDatabase', 'Enable-ConfitureFdw', 'Export-ConfitureReport', 'Get-ConfitureMigration', 'Get-ConfitureStrategy',
            'Invoke-ConfitureTableMigration', 'Remove-ConfitureFdw', 'Sync-ConfitureMigration', 'Test-ConfitureCutover', 'Test-ConfitureMigration')
    }

    It 'declares an output type on every cmdlet' {
        foreach ($command in Get-Command -Module Confiture) {
            $command.OutputType | Should -Not -BeNullOrEmpty -Because "$($command.Name) emits typed objects"
        }
    }

    It 'supports -WhatIf on every cmdlet that changes a database' {
        foreach ($name in 'Enable-ConfitureFdw', 'Invoke-ConfitureTableMigration', 'Remove-ConfitureFdw') {
            (Get-Command $name).Parameters.Keys | Should -Contain 'WhatIf' -Because "$name changes the target"
        }
    }

    It 'shows no Npgsql type in any cmdlet parameter' {
        foreach ($command in Get-Command -Module Confiture) {
            foreach ($parameter in $command.Parameters.Values) {
                $parameter.ParameterType.Assembly.GetName().Name | Should -Not -BeLike 'Npgsql*' -Because "-$($parameter.Name) of $($command.Name) is public surface"
            }
        }
    }

    It 'keeps Npgsql out of the default load context' {
        # Npgsql loads only when the engine first needs it: connect so that it is there to look at.
        Connect-ConfitureDatabase -ConnectionString $env:CONFITURE_TEST_SOURCE | Out-Null
        $npgsql = @([AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Npgsql' })

        $npgsql.Count | Should -BeGreaterThan 0 -Because 'a connection was opened, so Npgsql is loaded'
        $npgsql | ForEach-Object { [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($_).Name } |
            Should -Not -Contain 'Default'
    }

    It 'keeps working when another module loaded its own Npgsql into the default load context first' {
        $script = Join-Path ([IO.Path]::GetTempPath()) ("confiture-alc-" + [Guid]::NewGuid().ToString('N') + '.ps1')
        Set-Content -Path $script -Value @'
param($Manifest)
$ErrorActionPreference = 'Stop'
# "Another module": a copy of Npgsql from elsewhere, loaded into the default context before Confiture.
$other = Join-Path ([IO.Path]::GetTempPath()) ('other-module-' + [Guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $other | Out-Null
Copy-Item (Join-Path (Split-Path $Manifest) 'Dependencies/Npgsql.dll') $other
Add-Type -Path (Join-Path $other 'Npgsql.dll')
Import-Module $Manifest
$connection = Connect-ConfitureDatabase -ConnectionString $env:CONFITURE_TEST_SOURCE
"user=$($connection.User)"
[AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Npgsql' } |
    ForEach-Object { "context=$([System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($_).Name)" }
'@
        try {
            $lines = Invoke-ChildPwsh -Path $script -ArgumentList (Get-ModuleManifestPath)
        }
        finally {
            Remove-Item $script -ErrorAction SilentlyContinue
        }

        $lines | Should -Contain "user=$((Get-TestServer Source).Username)"
        $contexts = @($lines | Where-Object { $_ -like 'context=*' })
        $contexts | Should -Contain 'context=Default' -Because 'the other module''s copy sits in the default context'
        @($contexts | Where-Object { $_ -ne 'context=Default' }).Count | Should -Be 1 -Because 'Confiture loads its own copy privately'
    }
}
