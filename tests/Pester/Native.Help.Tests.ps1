<#
    Get-Help is complete: every cmdlet has a written synopsis and description, at least two
    examples (one interactive, one for a runbook), and a description for every parameter; the MAML
    file and about_Confiture ship in the built module; the help pages match the cmdlets exactly.
#>

BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
    $script:commands = foreach ($command in Get-Command -Module Confiture -CommandType Cmdlet) {
        @{ Name = $command.Name; Parameters = @($command.Parameters.Keys | Where-Object { $_ -notin $common } | Sort-Object) }
    }
    $script:parameterCases = foreach ($command in $script:commands) {
        foreach ($parameter in $command.Parameters) { @{ Command = $command.Name; Parameter = $parameter } }
    }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'Native.Helpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
    $moduleBase = Split-Path (Get-ModuleManifestPath)

    function Get-ParagraphText($Node) { (@($Node) | ForEach-Object { $_.Text }) -join ' ' }
}

Describe 'The help files of the built module' {
    It 'ship the MAML help and about_Confiture in en-US' {
        Join-Path $moduleBase 'en-US/Confiture.PowerShell.dll-Help.xml' | Should -Exist
        Join-Path $moduleBase 'en-US/about_Confiture.help.txt' | Should -Exist
        { [xml](Get-Content -Raw (Join-Path $moduleBase 'en-US/Confiture.PowerShell.dll-Help.xml')) } | Should -Not -Throw
    }

    It 'come from pages that match the cmdlets exactly (the generator warns about nothing)' {
        # Build-Help.ps1 warns about an undocumented parameter, and about a page describing a parameter the cmdlet lacks.
        $copy = Join-Path ([IO.Path]::GetTempPath()) ('confiture-help-' + [Guid]::NewGuid().ToString('N'))
        Copy-Item $moduleBase $copy -Recurse
        try {
            $builder = Join-Path $PSScriptRoot '../../src/Confiture.PowerShell/Help/Build-Help.ps1'
            $warnings = $null
            & $builder -Destination $copy -WarningVariable warnings -WarningAction SilentlyContinue 6>$null | Out-Null
            @($warnings) | Should -BeNullOrEmpty
            Join-Path $copy 'en-US/Confiture.PowerShell.dll-Help.xml' | Should -Exist
        }
        finally {
            Remove-Item $copy -Recurse -Force -ErrorAction Ignore
        }
    }
}

Describe 'Get-Help <Name>' -ForEach $commands {
    BeforeAll {
        $help = Get-Help $Name -Full
    }

    It 'has a written synopsis, not the generated syntax line' {
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match ([regex]::Escape($Name) + '\s+\[')
        $help.Synopsis.Length | Should -BeGreaterThan 30
    }

    It 'has a description' {
        Get-ParagraphText $help.description | Should -Not -BeNullOrEmpty
        (Get-ParagraphText $help.description).Length | Should -BeGreaterThan 200
    }

    It 'has at least two examples, each with code and an explanation' {
        $examples = @($help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($example in $examples) {
            $example.code | Should -Match $Name.Split('-')[1]
            Get-ParagraphText $example.remarks | Should -Not -BeNullOrEmpty -Because "example '$($example.title)' needs an explanation"
        }
    }

    It 'has an interactive example and a runbook example' {
        $titles = @($help.examples.example).title -join "`n"
        $code = @($help.examples.example).code -join "`n"
        $titles | Should -Match 'runbook'
        ($titles + $code) | Should -Match 'interactive|\$m\b|\$src\b|Get-Credential|-WhatIf'
    }

    It 'describes its input and output types' {
        @($help.returnValues.returnValue).Count | Should -BeGreaterThan 0
        @($help.inputTypes.inputType).Count | Should -BeGreaterThan 0
    }

    It 'shows its parameter sets with types' {
        $syntax = $help.syntax | Out-String -Width 500
        $syntax | Should -Match ([regex]::Escape($Name))
        foreach ($set in (Get-Command $Name).ParameterSets) {
            foreach ($parameter in $set.Parameters | Where-Object { -not $_.IsDynamic -and $_.Name -notin [System.Management.Automation.PSCmdlet]::CommonParameters }) {
                $hidden = $parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.DontShow }
                if (-not $hidden) { $syntax | Should -Match "-$($parameter.Name)\b" }
            }
        }
    }

    It 'links to about_Confiture' {
        @($help.relatedLinks.navigationLink).linkText | Should -Contain 'about_Confiture'
    }
}

Describe 'Every parameter of every cmdlet has help' {
    It '<Command> -<Parameter> has a description' -TestCases $parameterCases {
        $parameterHelp = Get-Help $Command -Parameter $Parameter
        Get-ParagraphText $parameterHelp.description | Should -Not -BeNullOrEmpty -Because "$Command -$Parameter needs a description in src/Confiture.PowerShell/Help/$Command.md"
    }

    It 'reads the parameter attributes from the cmdlet itself' {
        $parameterHelp = Get-Help Connect-ConfitureDatabase -Parameter ConnectionString
        $parameterHelp.required | Should -Be 'true'
        $parameterHelp.position | Should -Be '0'
        $parameterHelp.pipelineInput | Should -Be 'True (ByValue)'
        (Get-Help Enable-ConfitureFdw -Parameter ForeignSchema).defaultValue | Should -Be 'old_schema'
        (Get-Help Invoke-ConfitureTableMigration -Parameter SourceTable).aliases | Should -Be 'Table'
    }

    It 'lists the valid values of enumerations and sets in the syntax' {
        Get-Help Invoke-ConfitureTableMigration | Out-String -Width 500 | Should -Match '-Strategy \{Auto \| Fdw \| Copy\}'
        Get-Help Connect-ConfitureDatabase | Out-String -Width 500 | Should -Match '-SslMode \{Disable \| Allow \| Prefer \| Require \| VerifyCA \| VerifyFull\}'
    }
}

Describe 'about_Confiture' {
    BeforeAll {
        $about = Get-Help about_Confiture | Out-String
    }

    It 'is found by Get-Help' {
        $about | Should -Match 'about_Confiture'
    }

    It 'explains the whole zero-downtime workflow' {
        foreach ($step in 'Set up', 'Plan', 'Migrate', 'Verify', 'Cut over', 'Clean up') {
            $about | Should -Match $step
        }
        foreach ($cmdlet in (Get-Command -Module Confiture).Name) {
            $about | Should -Match $cmdlet
        }
    }

    It 'explains the two strategies' {
        $about | Should -Match 'THE TWO STRATEGIES'
        $about | Should -Match 'INSERT INTO target SELECT'
        $about | Should -Match 'COPY \(SELECT \.\.\.\) TO STDOUT'
    }

    It 'lists the ErrorIds scripts can rely on' {
        foreach ($id in 'Confiture.TargetNotEmpty', 'Confiture.ColumnNotFound', 'Confiture.AuthenticationFailed', 'Confiture.NoSession') {
            $about | Should -Match ([regex]::Escape($id))
        }
    }
}
